"""The frozen program's entry point (PyInstaller runs this file as ``__main__``)."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the planner's and the learning worker's spawned processes re-enter here
    from app.cli.main import run

    run()
