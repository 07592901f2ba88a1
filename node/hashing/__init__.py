"""Media and hash lists → signals (DESIGN §2, the "hash" step).

``media`` hashes files and bytes (md5, sha256, and PDQ for images); ``pdq`` is the one place
PDQ values are computed; ``lists`` reads hash-list files an operator already holds.
"""

from node.hashing.gate import MediaGate
from node.hashing.lists import MAX_LINE_BYTES, ListItem, ListRefusal, read_hash_list
from node.hashing.media import IMAGE_FORMATS, MAX_IMAGE_PIXELS, MediaHashes, hash_bytes, hash_file, media_kind
from node.hashing.models import ModelHashes, hash_model_file, is_model_file
from node.hashing.pdq import pdq_from_image, pdq_hex_from_bits
from node.hashing.walk import media_files, sniff_content_type

__all__ = [
    "IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "MAX_LINE_BYTES",
    "ListItem",
    "ListRefusal",
    "MediaGate",
    "MediaHashes",
    "ModelHashes",
    "hash_bytes",
    "hash_file",
    "hash_model_file",
    "is_model_file",
    "media_files",
    "media_kind",
    "pdq_from_image",
    "pdq_hex_from_bits",
    "read_hash_list",
    "sniff_content_type",
]
