"""mailcore-template: the skeleton a provider plugin is copied from (see docs/plugins.md)."""
