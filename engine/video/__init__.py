"""Video: sources (:mod:`.sources`: files, cameras, image sequences, the demo clip of
:mod:`.demo`), the threaded pipeline (:mod:`.pipeline`) and export (:mod:`.export`, writing
through :mod:`.sinks` with :mod:`.codecs` and :mod:`.carrier`, resumable in :mod:`.segments`),
on the interfaces of :mod:`.base`. Import the submodules; nothing is loaded here so that
``import engine.video.base`` stays light (PyAV and OpenCV load with the sources)."""
