"""Generated from proto/node/rpc/pb by proto/generate.py. Do not edit."""
