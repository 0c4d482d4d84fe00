"""Our own layer engine's side of tb/ (the framework is tb/ itself; tb/README.md has the map): its
flow through the target API (engine_flow.py; the target record is targets/engine/target.py), its
layer bench and driver (test_layers.py, hdl/), its build and register map (accel_build.py,
csr.py), `make resources` (resources.py) and the unit benches of rtl/'s units (test_*.py, uvm/)
with what they share."""
