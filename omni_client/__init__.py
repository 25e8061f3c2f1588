"""A client for Omni's gRPC API: the wire protocol (protos and generated code), service-account request
signing (OpenPGP) and endpoint handling. Shared by the watcher, the simulator and the API's kubeconfig
pass-through; it imports nothing else of this project."""
