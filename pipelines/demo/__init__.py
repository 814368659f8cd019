"""The bounded end-to-end demo (``stophacking demo``, ``make demo``)."""
