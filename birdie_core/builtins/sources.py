"""PLACEHOLDER — being written by a helper; replaced before commit."""
from birdie_core.interfaces import SourceConfig

class EmbeddedSource():
    class Config(SourceConfig):
        pass

class FileSource():
    class Config(SourceConfig):
        pass

class CallableSource():
    class Config(SourceConfig):
        pass

class HuggingFaceSource():
    class Config(SourceConfig):
        pass

