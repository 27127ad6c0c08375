"""gfx studio: a Gradio app over the public gfx API (`gfx demo`, or `python -m gfx.apps.studio`).

Tabs: "Text -> icon" (generate, download the SVGs, keep some paths of an icon and regenerate the
rest), "Text -> scene" (a multi-object SVG scene with its object boxes, shown when a layout model is there),
"Image -> SVG" (upload an image, see it beside its vectorization with metrics, download the
SVG), "Mesh" (text -> part mesh in a 3D viewer with its part list), "Text -> image" (a picker of the
text -> image models there are, images with ToMe and T2IS sets, and where a diffusion model looked for each word;
shown when a text -> image model is there) and "Batch" (run a job file with
the local executor, a progress bar while it runs, and show its manifest). Every tab has examples. Capabilities gfx does not have yet have no tab. The page
binds to 127.0.0.1; `--share` adds a public gradio.live link and limits the batch tab to uploaded files
and the shipped models.

    python -m gfx.apps.studio --port 7860 --no-browser [--model DIR] [--vector-model DIR] [--mesh-model DIR]
        [--image-model DIR]

The IconShop, StarVector, FullPart and text -> image checkpoints default to $GFX_STUDIO_MODEL,
$GFX_STUDIO_VECTOR_MODEL, $GFX_STUDIO_MESH_MODEL and $GFX_STUDIO_IMAGE_MODEL, then to the shipped ones. What
the buttons do lives in `gfx.apps.studio_handlers` and `gfx.apps.image_handlers` (no gradio there).
"""

import argparse
import atexit
import functools
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading

from gfx.apps import image_handlers, scene_handlers
from gfx.apps import studio_handlers as handlers

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MODEL_ENV, VECTOR_MODEL_ENV, MESH_MODEL_ENV = "GFX_STUDIO_MODEL", "GFX_STUDIO_VECTOR_MODEL", "GFX_STUDIO_MESH_MODEL"
IMAGE_MODEL_ENV = "GFX_STUDIO_IMAGE_MODEL"
INPUT_ERRORS = (ValueError, FileNotFoundError)  # StudioInputError, SVGError, MeshError, JobSpecError, no model
BATCH_HELP = """Each line of the job file is one JSON job (`pydoc gfx.jobs.kinds` lists the kinds: render-svg,
render-mesh, generate-svg, generate-scene, vectorize, generate-mesh, generate-image), e.g. `{"kind": "render-svg", "input":
"a.svg", "sizes": [64, 256]}`. Uploaded inputs (SVGs, images, meshes) are placed beside the job file, so jobs name them by file
name. Bad lines stop the run with a message; bad inputs become error rows."""


def _shown(handler):
    """Wrap a handler for the UI: input errors become a message in the page, never a stack trace."""

    @functools.wraps(handler)
    def run(*args, **kwargs):
        import gradio as gr

        try:
            return handler(*args, **kwargs)
        except INPUT_ERRORS as err:
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:
            log.exception("studio: %s failed", handler.__name__)
            raise gr.Error(f"{handler.__name__} failed ({type(err).__name__}); the server log has details",
                           print_exception=False) from None

    return run


def mesh_available() -> bool:
    """True once `gfx.mesh.generate` (text -> part mesh) is part of the public API."""
    import gfx.mesh

    return callable(getattr(gfx.mesh, "generate", None))


def build_studio(model_dir: str | None = None, *, vector_model_dir: str | None = None,
                 mesh_model_dir: str | None = None, image_model_dir: str | None = None,
                 allow_server_paths: bool = True, work_dir: str | None = None):
    """Build the studio's `gr.Blocks` (not launched).

    Args:
        model_dir: IconShop checkpoint directory; default $GFX_STUDIO_MODEL, then the shipped model.
        vector_model_dir: StarVector checkpoint directory; default $GFX_STUDIO_VECTOR_MODEL, then the shipped one.
        mesh_model_dir: FullPart checkpoint directory; default $GFX_STUDIO_MESH_MODEL, then the shipped one.
        image_model_dir: text -> image pipeline directory; default $GFX_STUDIO_IMAGE_MODEL, then the shipped one.
        allow_server_paths: let the batch tab read job files from folders on this machine.
        work_dir: where generated files go; default a fresh temporary folder removed at exit.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    model_dir = model_dir or os.environ.get(MODEL_ENV) or None
    vector_model_dir = vector_model_dir or os.environ.get(VECTOR_MODEL_ENV) or None
    mesh_model_dir = mesh_model_dir or os.environ.get(MESH_MODEL_ENV) or None
    image_model_dir = image_model_dir or os.environ.get(IMAGE_MODEL_ENV) or None
    if work_dir is None:
        work_dir = tempfile.mkdtemp(prefix="gfx-studio-")
        atexit.register(shutil.rmtree, work_dir, ignore_errors=True)

    with gr.Blocks(title="gfx studio", analytics_enabled=False, delete_cache=(3600, 3600)) as studio:
        gr.Markdown("# gfx studio\nText -> SVG icons, image -> SVG, part meshes and batch rendering, on the CPU.")
        with gr.Tabs():
            with gr.Tab("Text -> icon", id="icon"):
                _icon_tab(gr, model_dir, work_dir)
            if scene_available():
                with gr.Tab("Text -> scene", id="scene"):
                    _scene_tab(gr, model_dir, work_dir)
            with gr.Tab("Image -> SVG", id="vectorize"):
                _vectorize_tab(gr, vector_model_dir, work_dir)
            if mesh_available():
                with gr.Tab("Mesh", id="mesh"):
                    _mesh_tab(gr, mesh_model_dir, work_dir)
            if image_handlers.image_model_available(image_model_dir):
                with gr.Tab("Text -> image", id="image"):
                    _image_tab(gr, image_model_dir, work_dir)
            with gr.Tab("Batch", id="batch"):
                _batch_tab(gr, work_dir, allow_server_paths)
    return studio


def _seed_box(gr, elem_id: str):
    # A textbox, not gr.Number: gradio 6 shows an empty Number as 0, and "empty: random" must be possible.
    return gr.Textbox(label="Seed", placeholder="empty: random", max_length=16, elem_id=elem_id)


def _icon_tab(gr, model_dir: str | None, work_dir: str) -> None:
    from gfx.svg.icon_style import ANY_STYLE, STYLES

    svgs = gr.State([])
    with gr.Row():
        with gr.Column(scale=1):
            prompt = gr.Textbox(label="Prompt", placeholder="house, home (empty: anything)",
                                max_length=handlers.MAX_PROMPT_CHARS, elem_id="icon-prompt")
            n = gr.Slider(1, handlers.MAX_ICONS, value=4, step=1, label="Icons", elem_id="icon-n")
            seed = _seed_box(gr, "icon-seed")
            low, high = handlers.GUIDANCE_RANGE
            guidance = gr.Textbox(label=f"Guidance {low:g}..{high:g}, 1 = off", placeholder="empty: the model's",
                                  max_length=16, elem_id="icon-guidance")
            style = gr.Radio([*STYLES, ANY_STYLE], value="outline", label="Style", elem_id="icon-style")
            generate = gr.Button("Generate", variant="primary", elem_id="icon-generate")
            status = gr.Markdown(elem_id="icon-status")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Icons (click one to edit it)", columns=4, fit_columns=False, format="png",
                                 elem_id="icon-gallery")
            files = gr.File(label="SVG files", file_count="multiple", interactive=False, elem_id="icon-files")
    with gr.Accordion("Edit: keep some paths, regenerate the rest (uses the prompt, icons, seed above)"):
        with gr.Row():
            edit_svg = gr.Textbox(label="SVG to edit (click an icon above, or paste one)", lines=8,
                                  max_length=handlers.MAX_SVG_BYTES, elem_id="edit-svg")
            edit_preview = gr.Image(label="Preview", type="numpy", interactive=False, height=256)
        keep = gr.CheckboxGroup(label="Paths to keep", type="index", elem_id="edit-keep")
        edit_status = gr.Markdown()
        edit = gr.Button("Regenerate the other paths", elem_id="edit-run")

    def show(out: handlers.IconOutput):
        return out.images, out.svg_files, out.svgs, out.status

    @_shown
    def generate_icons(prompt, n, seed, guidance, style):
        return show(handlers.generate_icons(prompt, n, seed, guidance, style, model_dir=model_dir,
                                            work_dir=work_dir))

    @_shown
    def edit_icon(svg, keep, prompt, n, seed, guidance, style):
        return show(handlers.edit_icon(svg, keep, prompt, n, seed, guidance, style, model_dir=model_dir,
                                       work_dir=work_dir))

    def pick(svgs, event: gr.SelectData):
        return svgs[event.index] if 0 <= event.index < len(svgs) else gr.update()

    def load_paths(svg):
        """Path checkboxes and a preview for the edit box; a bad SVG is a note, not a pop-up (it is typed)."""
        from gfx.svg.core.render import render

        if not svg or not svg.strip():
            return gr.update(choices=[], value=[]), None, ""
        try:
            labels = handlers.describe_paths(svg)
            preview = render(svg, handlers.PREVIEW_SIZE)
        except INPUT_ERRORS as err:
            return gr.update(choices=[], value=[]), None, f"Not an SVG the editor can use: {err}"
        return gr.update(choices=labels, value=[]), preview, f"{len(labels)} paths"

    outputs = [gallery, files, svgs, status]
    gr.Examples(handlers.ICON_EXAMPLES, [prompt, n, seed, guidance], label="Examples (click one, then Generate)")
    generate.click(generate_icons, [prompt, n, seed, guidance, style], outputs)
    prompt.submit(generate_icons, [prompt, n, seed, guidance, style], outputs)
    edit.click(edit_icon, [edit_svg, keep, prompt, n, seed, guidance, style], outputs)
    gallery.select(pick, [svgs], edit_svg)
    edit_svg.change(load_paths, edit_svg, [keep, edit_preview, edit_status])


def _vectorize_tab(gr, model_dir: str | None, work_dir: str) -> None:
    megabytes = handlers.MAX_IMAGE_BYTES // 2**20
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.File(label=f"Image (PNG, JPEG, WebP, BMP, GIF or TIFF; up to {megabytes} MB)",
                            file_types=list(handlers.IMAGE_SUFFIXES), elem_id="vec-image")
            methods = handlers.vectorize_methods()
            method = gr.Dropdown(methods, value=methods[0], label="Method", elem_id="vec-method",
                                 info="neural: the StarVector model; +refine: then fit to the image; "
                                      "vtracer: the classical tracer")
            run = gr.Button("Vectorize", variant="primary", elem_id="vec-run")
            status = gr.Markdown(elem_id="vec-status")
            metrics = gr.Dataframe(headers=handlers.METRIC_COLUMNS, label="Metrics (MSE, SSIM against the input)",
                                   interactive=False, elem_id="vec-metrics")
            svg_file = gr.File(label="SVG", interactive=False, elem_id="vec-svg")
        with gr.Column(scale=2), gr.Row():
            shown_input = gr.Image(label="Input (as traced)", type="filepath", interactive=False,
                                   elem_id="vec-input")
            shown_svg = gr.Image(label="SVG (rendered)", type="filepath", interactive=False, elem_id="vec-output")

    @_shown
    def vectorize_image(image, method):
        out = handlers.vectorize_image(image, method, model_dir=model_dir, work_dir=work_dir)
        return out.input_png, out.svg_png, out.svg_file, out.metrics, out.status

    examples = [[path, methods[0]] for path in handlers.example_images(work_dir)]
    if examples:
        gr.Examples(examples, [image, method], label="Examples: corpus icons (click one, then Vectorize)")
    run.click(vectorize_image, [image, method], [shown_input, shown_svg, svg_file, metrics, status])


def scene_available() -> bool:
    """Whether the shipped scene layout model is there (the scene tab is hidden otherwise)."""
    from gfx.models import model_path

    try:
        model_path("svgcraft-layout")
    except FileNotFoundError:
        return False
    return True


def _scene_tab(gr, model_dir: str | None, work_dir: str) -> None:
    from gfx.svg.scene_compose import MODES

    with gr.Row():
        with gr.Column(scale=1):
            prompt = gr.Textbox(label="Prompt", placeholder="two trees left of a house and a sun above the house",
                                max_length=handlers.MAX_PROMPT_CHARS, elem_id="scene-prompt")
            seed = _seed_box(gr, "scene-seed")
            mode = gr.Radio(list(MODES), value=MODES[0], label="Drawn with", elem_id="scene-mode")
            generate = gr.Button("Generate scene", variant="primary", elem_id="scene-generate")
            status = gr.Markdown(elem_id="scene-status")
            objects = gr.Dataframe(headers=scene_handlers.OBJECT_COLUMNS, label="Objects (boxes in viewBox units)",
                                   interactive=False, elem_id="scene-objects")
        with gr.Column(scale=2):
            image = gr.Image(label="Scene", type="filepath", elem_id="scene-image")
            svg_file = gr.File(label="SVG (a <g> per object)", elem_id="scene-svg")

    @_shown
    def generate_scene(prompt, seed, mode):
        out = scene_handlers.generate_scene(prompt, seed, mode, layout_model=None, icon_model=model_dir,
                                            work_dir=work_dir)
        return out.png, out.svg_file, out.objects, out.status

    outputs = [image, svg_file, objects, status]
    gr.Examples(scene_handlers.SCENE_EXAMPLES, [prompt, seed, mode], label="Examples (click one, then Generate scene)")
    generate.click(generate_scene, [prompt, seed, mode], outputs)
    prompt.submit(generate_scene, [prompt, seed, mode], outputs)


def _mesh_tab(gr, mesh_model_dir: str | None, work_dir: str) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            prompt = gr.Textbox(label="Prompt", placeholder="a wooden chair with four legs",
                                max_length=handlers.MAX_PROMPT_CHARS, elem_id="mesh-prompt")
            seed = _seed_box(gr, "mesh-seed")
            generate = gr.Button("Generate mesh", variant="primary", elem_id="mesh-generate")
            status = gr.Markdown(elem_id="mesh-status")
            parts = gr.Dataframe(headers=handlers.PART_COLUMNS, label="Parts", interactive=False,
                                 elem_id="mesh-parts")
        with gr.Column(scale=2):
            viewer = gr.Model3D(label="Part mesh (GLB, one node per part)", height=480, elem_id="mesh-viewer")

    @_shown
    def generate_mesh(prompt, seed):
        out = handlers.generate_mesh(prompt, seed, model_dir=mesh_model_dir, work_dir=work_dir)
        return out.glb, out.parts, out.status

    gr.Examples(handlers.MESH_EXAMPLES, [prompt, seed], label="Examples (click one, then Generate mesh)")
    generate.click(generate_mesh, [prompt, seed], [viewer, parts, status])
    prompt.submit(generate_mesh, [prompt, seed], [viewer, parts, status])


def _image_tab(gr, image_model_dir: str | None, work_dir: str) -> None:
    models = image_handlers.image_models(image_model_dir)
    first = next(iter(models.values()))
    unet = image_handlers.takes_unet_controls(first)  # ToMe, sets, concepts and styles need a diffusion UNet
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(list(models.items()), value=first, label="Model", elem_id="image-model")
            note = gr.Markdown(image_handlers.model_note(first), elem_id="image-model-note")
            prompt = gr.Textbox(label="Prompt", placeholder="a large red circle to the left of a small blue star",
                                max_length=handlers.MAX_PROMPT_CHARS, elem_id="image-prompt")
            n = gr.Slider(1, image_handlers.MAX_IMAGES, value=4, step=1, label="Images", elem_id="image-n")
            seed = _seed_box(gr, "image-seed")
            tome = gr.Checkbox(label="ToMe: bind each object's colour and size to it", interactive=unet,
                               elem_id="image-tome")
            variations = gr.Textbox(label="A coherent set (T2IS): one variation per line, filling the prompt's {}",
                                    lines=3, interactive=unet, elem_id="image-set")
            concept = gr.Textbox(label="Learned concept directory (CoRe / textual inversion: gfx image "
                                 "learn-concept); use its word, e.g. <cross>, in the prompt", interactive=unet,
                                 elem_id="image-concept")
            style = gr.Image(label="Style reference (StyleTokenizer): draw in this image's style", type="numpy",
                             interactive=unet, elem_id="image-style")
            erasable = image_handlers.holds_erasing(first)
            erase = gr.Checkbox(label="Geom-Erasing: keep out the implicit concept the model learned to name (the "
                                "corner mark; pick the geom-erasing model)", value=erasable, interactive=erasable,
                                elem_id="image-erase")
            generate = gr.Button("Generate", variant="primary", elem_id="image-generate")
            status = gr.Markdown(elem_id="image-status")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Images", columns=4, fit_columns=False, format="png", elem_id="image-gallery")
            attention = gr.Gallery(label="Where the first image looked for each word (cross-attention)", columns=6,
                                   fit_columns=False, format="png", elem_id="image-attention")

    unet_inputs = [tome, variations, concept, style]

    def pick_model(directory):
        enabled = image_handlers.takes_unet_controls(directory)
        erasable = image_handlers.holds_erasing(directory)
        return ([image_handlers.model_note(directory)] + [gr.update(interactive=enabled) for _ in unet_inputs]
                + [gr.update(interactive=erasable, value=erasable)])

    @_shown
    def generate_images(prompt, n, seed, tome, variations, concept, style, erase, directory):
        out = image_handlers.generate_images(prompt, n, seed, tome, variations, concept, style, erase,
                                             model_dir=directory, work_dir=work_dir)
        return out.images, out.attention, out.status

    inputs = [prompt, n, seed, tome, variations, concept, style, erase, model]
    outputs = [gallery, attention, status]
    model.change(pick_model, [model], [note, *unet_inputs, erase])
    gr.Examples(image_handlers.IMAGE_EXAMPLES, inputs[:5], label="Examples (click one, then Generate)")
    generate.click(generate_images, inputs, outputs)
    prompt.submit(generate_images, inputs, outputs)


def _batch_tab(gr, work_dir: str, allow_server_paths: bool) -> None:
    gr.Markdown(BATCH_HELP)
    with gr.Row():
        with gr.Column(scale=1):
            job_file = gr.File(label="Job file (.jsonl)", file_types=[".jsonl"], elem_id="batch-jobs")
            inputs = gr.File(label="Input files (SVGs, images, meshes)", file_count="multiple",
                             file_types=list(handlers.UPLOAD_LIMITS), elem_id="batch-inputs")
            folder = gr.Textbox(label="...or a folder on this machine with jobs.jsonl", visible=allow_server_paths,
                                elem_id="batch-folder")
            cpus = os.cpu_count() or 1
            workers = gr.Slider(1, cpus, value=min(2, cpus), step=1, label="Worker processes")
            run = gr.Button("Run", variant="primary", elem_id="batch-run")
            status = gr.Markdown(elem_id="batch-status")
            manifest = gr.File(label="manifest.jsonl", interactive=False)
        with gr.Column(scale=2):
            table = gr.Dataframe(headers=handlers.MANIFEST_COLUMNS, label="Manifest", interactive=False, wrap=True,
                                 elem_id="batch-manifest")
            previews = gr.Gallery(label="Outputs", columns=6, fit_columns=False, object_fit="contain", format="png")

    @_shown
    def run_batch(job_file, inputs, folder, workers, progress=gr.Progress()):  # noqa: B008 (gradio's idiom)
        def report(done: int, total: int, label: str) -> None:
            progress((done, total), desc=f"{label}: jobs done")

        out = handlers.run_batch(job_file, inputs, folder, workers, work_dir=work_dir,
                                 allow_server_paths=allow_server_paths, progress=report)
        for note in out.notes:
            gr.Warning(note)
        return out.rows, out.images, out.manifest, out.status

    gr.Examples([[handlers.example_job_file(work_dir)]], [job_file],
                label="Example: two icons and a mesh (click it, then Run)")
    run.click(run_batch, [job_file, inputs, folder, workers], [table, previews, manifest, status])


def launch(port: int = DEFAULT_PORT, *, share: bool = False, open_browser: bool = True,
           model_dir: str | None = None, vector_model_dir: str | None = None,
           mesh_model_dir: str | None = None, image_model_dir: str | None = None) -> None:
    """Build the studio and serve it on 127.0.0.1:`port` until interrupted."""
    studio = build_studio(model_dir, vector_model_dir=vector_model_dir, mesh_model_dir=mesh_model_dir,
                          image_model_dir=image_model_dir, allow_server_paths=not share)
    studio.queue(default_concurrency_limit=1)  # one CPU-heavy job per button at a time
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop like Ctrl-C: close, remove work_dir
    studio.launch(server_name=HOST, server_port=port, share=share, inbrowser=open_browser,
                  max_file_size=max(handlers.MAX_JOB_FILE_BYTES, *handlers.UPLOAD_LIMITS.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gfx.apps.studio", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument("--model", help=f"IconShop checkpoint directory (default ${MODEL_ENV} or the shipped one)")
    parser.add_argument("--vector-model", help=f"StarVector checkpoint directory (default ${VECTOR_MODEL_ENV} or shipped)")
    parser.add_argument("--mesh-model", help=f"FullPart checkpoint directory (default ${MESH_MODEL_ENV} or shipped)")
    parser.add_argument("--image-model", help=f"text -> image pipeline directory (default ${IMAGE_MODEL_ENV} or shipped)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up requests
    launch(args.port, share=args.share, open_browser=not args.no_browser, model_dir=args.model,
           vector_model_dir=args.vector_model, mesh_model_dir=args.mesh_model, image_model_dir=args.image_model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
