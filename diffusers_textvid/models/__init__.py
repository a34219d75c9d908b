from .modeling_textvid import TextVideoDiTModel, TextVideoDiTOutput
