"""Only the compiled part of the build (everything else is in pyproject.toml): the tabu search's step in C.

Optional: when it does not compile (no C compiler or Python headers), the install goes on and the search runs
its steps in Python (app/core/scheduling/tabu_steps.py)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "app.core.scheduling._tabu_step",
            sources=["app/core/scheduling/_tabu_step.c"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=True,
        )
    ]
)
