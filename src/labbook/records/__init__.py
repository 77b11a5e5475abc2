"""Plain records passed between the store, the service and the adapters, one module per area."""
