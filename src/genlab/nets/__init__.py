"""Network building blocks. Networks map tensors to tensors; they never compute losses."""

from genlab.nets.dcgan import ConvDecoder, ConvEncoder, down_plan
from genlab.nets.mlp import MLP

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "down_plan"]
