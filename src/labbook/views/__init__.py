"""Every JSON shape and rendered table or figure the adapters print."""
