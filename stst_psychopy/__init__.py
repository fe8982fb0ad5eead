"""PsychoPy integration: present generated stimuli in experiments."""
