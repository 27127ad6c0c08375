"""The Gradio studio (`gfx demo`, `make studio`) and the contact sheets of `make demo`.

They live inside the package so an installed gfx serves them from any directory. `studio_handlers`
holds what the buttons do (no gradio); `studio` lays out the page.
"""
