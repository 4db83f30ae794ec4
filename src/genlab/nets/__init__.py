"""Network building blocks. Networks map tensors to tensors; they never compute losses."""

from genlab.nets.dcgan import ConvDecoder, ConvEncoder, down_plan
from genlab.nets.factory import data_net
from genlab.nets.mlp import MLP
from genlab.nets.patchgan import PatchDiscriminator, PixelDiscriminator
from genlab.nets.resnet import ResnetGenerator

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "PatchDiscriminator", "PixelDiscriminator", "ResnetGenerator", "data_net", "down_plan"]
