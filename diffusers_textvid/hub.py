"""Uploading a folder to the Hugging Face Hub: one place for the pipeline's `push_to_hub`, the training
scripts' `--push_to_hub` and the export script."""

import os

from huggingface_hub import create_repo, upload_folder


def upload_to_hub(folder: str, repo_id: str | None = None, token: str | None = None, commit_message: str = "Upload",
                  ignore_patterns: list[str] | None = None, private: bool | None = None,
                  create_pr: bool = False) -> str:
    """Create the model repo `repo_id` (by default the folder's name) if needed, upload `folder` but the
    files matching `ignore_patterns`, and return the repo id the Hub gave (with its owner)."""
    name = repo_id or os.path.basename(os.path.normpath(folder))
    repo_id = create_repo(name, token=token, private=private, exist_ok=True).repo_id
    upload_folder(repo_id=repo_id, folder_path=folder, token=token, commit_message=commit_message,
                  ignore_patterns=ignore_patterns, create_pr=create_pr)
    return repo_id
