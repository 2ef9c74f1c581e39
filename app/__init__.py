"""tuwen (图文): clean Chinese image-text corpora with Apache Beam, and pre-train a dual encoder on them."""
__version__ = "0.1.0"
