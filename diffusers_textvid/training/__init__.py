"""What the training scripts in `training/` share, as Diffusers' `training_utils` is for its examples.

- `arguments`: the scripts' command lines, every argument checked before anything is written;
- `training_model`: the networks as one module whose forward is the loss, and one optimisation step;
- `checkpoints`: crash-safe checkpoints that hold every process's state, and resuming;
- `output_folder`, `launcher`: one live run per output folder, no process outliving its launcher;
- `distributed_weights`: whole weights from FSDP shards, the EMA swapped in;
- `validation`, `lora`, `publishing`: validation videos, the LoRA adapter, the summary and the upload.

Import the modules themselves (`from diffusers_textvid.training.checkpoints import save_checkpoint`):
this package needs Accelerate, which sampling does not.
"""
