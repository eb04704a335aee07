"""OPRA trade condition ids as Polygon publishes them (``GET /v3/reference/conditions?asset_class=options``).

Only the ids the pipeline acts on are named; everything else is treated as a regular print.
"""

from __future__ import annotations

REGULAR = 209
INTERMARKET_SWEEP = 219
SINGLE_LEG_AUCTION = 227
SINGLE_LEG_AUCTION_ISO = 228
SINGLE_LEG_CROSS = 229
SINGLE_LEG_CROSS_ISO = 230
SINGLE_LEG_FLOOR = 231
MULTI_LEG_ELECTRONIC = 232
MULTI_LEG_AUCTION = 233
MULTI_LEG_CROSS = 234
MULTI_LEG_FLOOR = 235
MULTI_LEG_VS_SINGLE = 236
STOCK_OPTION_ELECTRONIC = 240
STOCK_OPTION_CROSS = 241

# Prints matched customer-to-customer by a broker's cross: no market maker takes the other side.
CROSS = frozenset({SINGLE_LEG_CROSS, SINGLE_LEG_CROSS_ISO, MULTI_LEG_CROSS, STOCK_OPTION_CROSS})
# Legs of a spread/combination order: their price relates to the package, not this leg's NBBO.
MULTI_LEG = frozenset({MULTI_LEG_ELECTRONIC, MULTI_LEG_AUCTION, MULTI_LEG_CROSS, MULTI_LEG_FLOOR,
                       MULTI_LEG_VS_SINGLE, STOCK_OPTION_ELECTRONIC, STOCK_OPTION_CROSS})
# Price-improvement auctions (PIM/PIP/AIM): typically print at or near the mid.
AUCTION = frozenset({SINGLE_LEG_AUCTION, SINGLE_LEG_AUCTION_ISO, MULTI_LEG_AUCTION})
