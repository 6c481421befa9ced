"""PLACEHOLDER — being written by a helper; replaced before commit."""
from birdie_core.interfaces import Packer, PackerConfig

class BestFitPacker(Packer):
    class Config(PackerConfig):
        pass

