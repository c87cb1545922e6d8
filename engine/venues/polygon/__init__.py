"""Polygon market data through `massive` (the maintained polygon-api-client): VIGIL_FEED=polygon."""
