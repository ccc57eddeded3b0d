import pathlib
import sys

# tests import the scalar reference next to them
sys.path.insert(0, str(pathlib.Path(__file__).parent))
