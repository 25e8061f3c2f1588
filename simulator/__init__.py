"""An Omni-compatible ``cosi.resource.State`` gRPC server with a generated fleet, churn and fault injection.

Used by the demo, the tests and the benchmarks; nothing in the product imports it.
"""
