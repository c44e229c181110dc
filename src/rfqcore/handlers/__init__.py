"""Venue handlers: raw venue messages -> RECORD_DTYPE input records (see ``base``)."""

from rfqcore.handlers.base import Handler, HandlerStats
from rfqcore.handlers.binance import BinanceHandler, SyncState
from rfqcore.handlers.bybit import BybitHandler
from rfqcore.handlers.coinbase import CoinbaseHandler
from rfqcore.handlers.kraken import KrakenHandler, kraken_checksum
from rfqcore.handlers.okx import OkxHandler, okx_checksum

__all__ = ["Handler", "HandlerStats", "BinanceHandler", "SyncState", "OkxHandler", "okx_checksum",
           "CoinbaseHandler", "KrakenHandler", "kraken_checksum", "BybitHandler"]
