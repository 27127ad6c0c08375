"""Image -> SVG: the vectorizer front end (`vectorizer.vectorize`), centerline tracing of strokes, and
refinement through the differentiable rasterizer (`diffrender`). The neural method lives in
`gfx.svg.starvector`.
"""
