"""SVG tokenizers: the shared vocabulary layout, IconShop's path tokens (`path`) and LLM4SVG's semantic
tokens (`semantic`), chosen by name through `registry`.

    from gfx.svg.tokenizers.registry import default_tokenizer
    ids = default_tokenizer("path").encode(doc)
"""
