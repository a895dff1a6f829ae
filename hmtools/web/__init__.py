"""The local web editor for mask corrections (``hmtools correct``): see :mod:`hmtools.web.server`."""
