"""SWIRL from Python: one import for notebooks and scripts (docs/api.md).

The stable entry points, re-exported from where they live (gen/, sim/, boards/):

- configs: :class:`Config`, :func:`load_config` (a path, a preset name or None for the
  default), :func:`presets`, :class:`ConfigError`;
- the network: :func:`make_topology`, :class:`Network` (the integer golden model),
  :func:`dataset` (a benchmark or your .npz as a :class:`Dataset`, quantised for a
  config, each feature of your data scaled on its own: :class:`Scaling`, saved with
  the weights by ``train``; :class:`DataError` when it cannot be read);
- flows, as the CLI runs them: :func:`train`, :func:`evaluate`, :func:`save_weights`,
  :func:`load_weights`, :func:`check` (the fit), :func:`build` (the bitstream),
  :func:`compare` (the Verilator chip beside the model); :class:`TrainResult`,
  :class:`BuildError`, :class:`DoesNotFit`;
- sweeps on Ray Tune: :func:`sweep` (config fields x seeds x tasks, each trial a
  ``train`` run; docs/sweep.md), :func:`load_spec`, :class:`SpecError`;
- interchange: :func:`write_nir` / :func:`to_nir` (a network as a NIR graph),
  :func:`read_nir` / :func:`from_nir` (a graph as a config, weights and notes),
  :class:`NirError` (docs/nir.md);
- the board: :data:`BOARDS`, :func:`connect` (a :class:`Host` on a serial port),
  :class:`Host`, :class:`SerialTransport`, :class:`HostError`.

Everything else (rtl/, sim.harness, the testbenches) is internal and may change.
"""
from boards import BOARDS
from gen.api import build, check, compare, connect, dataset, evaluate, train
from gen.build import BuildError, DoesNotFit
from gen.config import Config, ConfigError, load_config, presets
from gen.sweep import SpecError, load_spec, sweep
from gen.nir_io import NirError, from_nir, read_nir, to_nir, write_nir
from gen.topology import make_topology
from sim.data import DataError, Dataset, Scaling
from sim.host import Host, HostError, SerialTransport
from sim.model import Network
from sim.train import TrainResult, load_weights, save_weights

__all__ = [
    "Config", "ConfigError", "load_config", "presets",
    "make_topology", "Network", "Dataset", "DataError", "Scaling", "dataset",
    "train", "TrainResult", "evaluate", "save_weights", "load_weights",
    "check", "build", "compare", "BuildError", "DoesNotFit",
    "sweep", "load_spec", "SpecError",
    "to_nir", "write_nir", "from_nir", "read_nir", "NirError",
    "BOARDS", "connect", "Host", "HostError", "SerialTransport",
]
