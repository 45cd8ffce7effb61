"""The wizard's screens: each collects or shows one step and dismisses with its value; the App owns the flow."""
