"""The embedded simulated market: Polygon-layout flat files plus a ``truth/`` folder (ARCHITECTURE §6), its
microstructure and customer books drawn from :class:`MarketParams`."""

from spy_gamma.sources.simulator.params import MarketParams
from spy_gamma.sources.simulator.simulate import SimulationSummary, simulate_market

__all__ = ["MarketParams", "SimulationSummary", "simulate_market"]
