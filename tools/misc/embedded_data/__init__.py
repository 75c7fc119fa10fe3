"""The writers of ``tools/misc/make_embedded_data.py``: the real image sources and their rendering
(:mod:`.sources`) and one module per on-disk layout (:mod:`.imagenet`, :mod:`.coco`, :mod:`.ade20k`,
:mod:`.cifar`).

Each layout module has ``write(root, sources, rng) -> counts``: it fills ``root`` (an empty, existing task
folder) from ``sources`` (:func:`.sources.load_sources`) drawing only from ``rng`` (the task's generator,
:func:`.sources.task_rng`), and returns the counts the progress line and the stamp report, by name.
"""
