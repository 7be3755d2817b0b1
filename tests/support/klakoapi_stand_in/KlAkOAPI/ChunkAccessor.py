"""KlAkChunkAccessor of the stand-in."""

from .Base import KlAkProxy, method


class KlAkChunkAccessor(KlAkProxy):
    GetItemsChunk = method("ChunkAccessor", "GetItemsChunk", "strAccessor", "nStart", "nCount")
    GetItemsCount = method("ChunkAccessor", "GetItemsCount", "strAccessor")
    Release = method("ChunkAccessor", "Release", "strAccessor", retval=False)
