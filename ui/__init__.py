"""The Gradio app over the `pocketllm` core: `python launch.py`.  See ui/README.md."""
