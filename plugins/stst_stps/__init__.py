"""Spatiotemporal phase scrambling (STPS): the null model against which metamers are compared."""
