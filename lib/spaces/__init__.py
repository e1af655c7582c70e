"""Search spaces: each converts its native cells to the common :class:`~lib.cell.Cell` form."""

from lib.spaces.base import SearchSpace
from lib.spaces.darts import DartsSpace
from lib.spaces.nb101 import NB101Space
from lib.spaces.nb201 import NB201Space
from lib.spaces.nbgraph import NBGraphSpace

__all__ = ["SearchSpace", "NB101Space", "NB201Space", "NBGraphSpace", "DartsSpace"]
