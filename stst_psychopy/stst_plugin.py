"""The toolkit-side plugin of stst_psychopy (its ``stst`` commands)."""
