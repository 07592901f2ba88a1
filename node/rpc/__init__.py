"""gRPC: servicers, clients, request authentication, servers. Home of grpc and generated code."""
