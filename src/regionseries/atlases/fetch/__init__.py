"""Pre-fetch TemplateFlow atlases for offline use.

``regionseries-fetch-atlases`` downloads the atlas images that regionseries uses by
default (or those named: volumetric, or the surface atlases of tpl-fsaverage and tpl-fsLR,
``--template fsaverage --atlas Yeo2011 --density 10k --seg 7n``) into a TemplateFlow home (``$TEMPLATEFLOW_HOME``), so that later runs need
no network: the Docker image runs it at build time into ``/templateflow``, and on an
HPC cluster whose compute nodes are offline you run it once on a login node (or any
machine with network) and point ``TEMPLATEFLOW_HOME`` at the folder it filled.

How the TemplateFlow client (templateflow >= 24) stores files, which this module
follows so that ``templateflow.api.get`` later finds the files without downloading:

* the home is ``$TEMPLATEFLOW_HOME`` (default: the platform's user cache folder,
  ``~/.cache/templateflow`` on Linux);
* a fresh home is filled from the *skeleton* zip bundled with the client: every
  ``.json``/``.tsv`` in it is real, every ``.nii.gz`` is a zero-byte placeholder;
* ``get`` downloads a placeholder from ``<S3 root>/<path relative to the home>``,
  with the S3 root ``https://templateflow.s3.amazonaws.com``; a file that exists and
  is not empty is used as it is.

This module fills a missing home from the same skeleton (never overwriting a file),
selects atlas images by their TemplateFlow file names, and downloads the ones that
are still placeholders, writing each one atomically (temporary file, then rename)
after checking its size and NIfTI header — an interrupted download never leaves a
truncated file that TemplateFlow would later take for complete.

Where the images come from:

* by default, TemplateFlow's server; ``--s3-root URL`` names another server with
  the same layout (``<URL>/tpl-<T>/<file>``): an institution's mirror, or a plain
  ``python -m http.server`` serving a TemplateFlow home, ``http://`` or ``https://``
  (a server on the loopback interface is asked directly, never through the
  ``http_proxy`` of the environment, which ``podman build`` passes on);
* ``--source-home DIR`` copies them from a folder with TemplateFlow's layout
  instead (another TemplateFlow home, a DataLad/git-annex clone whose content was
  fetched: symbolic links are followed and the content is copied), with the same
  atomic write and the same checks as a download, and without any network.

``--dry-run`` lists the selection and the state of each image and changes nothing;
``--check`` does the same and exits with :data:`EXIT_MISSING` (66) when an image
is missing, a zero-byte placeholder or corrupt (not a complete gzip-compressed
NIfTI-1 image), or a label table or template description of the selection is
missing, ending with the command that would fetch what is missing; the Docker
build runs it after the fetch so that an incomplete image cannot be built.

Exit status: 0 done (``--check``: everything present); 1 a download or copy
failed; 2 usage error or a selection that matches nothing; 66 (``--check`` only)
something selected is missing or corrupt.

It does not import ``templateflow``: importing it populates the home named by the
environment at import time, which is exactly what a command with ``--home`` must
not do. It needs only the standard library and the installed ``templateflow``
package's skeleton, so the Docker build runs this folder as a standalone package
(copied on its own and run with ``python -m``: no module here imports anything of
regionseries outside this folder).

One job per module: :mod:`.home` (the TemplateFlow home and its skeleton),
:mod:`.selection` (which images), :mod:`.validation` (is an image complete),
:mod:`.transfer` (download or copy, checked and atomic: :func:`fetch_atlases`),
:mod:`.cli` (the command line, ``--dry-run`` and ``--check``: :func:`main`), and
:mod:`.errors`.
"""

from .cli import (
    EXIT_FETCH_FAILED,
    EXIT_MISSING,
    EXIT_OK,
    EXIT_USAGE,
    build_parser,
    main,
)
from .errors import (
    FetchError,
    OfflineError,
    SelectionError,
)
from .home import (
    bundled_skeleton_zip,
    default_templateflow_home,
    is_complete,
    populate_skeleton,
    skeleton_paths,
)
from .selection import (
    DEFAULT_ATLASES,
    DEFAULT_RESOLUTIONS,
    DEFAULT_TEMPLATES,
    AtlasImage,
    parse_atlas_image,
    select_atlas_images,
    selection_metadata_paths,
)
from .transfer import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF_S,
    DEFAULT_TIMEOUT_S,
    TEMPLATEFLOW_S3_ROOT,
    FetchReport,
    copy_file,
    download_file,
    fetch_atlases,
    image_url,
)
from .validation import (
    cifti_problem,
    file_problem,
    gifti_problem,
    image_state,
    nifti_gz_problem,
)

__all__ = [
    "AtlasImage",
    "DEFAULT_ATLASES",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_BACKOFF_S",
    "DEFAULT_RESOLUTIONS",
    "DEFAULT_TEMPLATES",
    "DEFAULT_TIMEOUT_S",
    "EXIT_FETCH_FAILED",
    "EXIT_MISSING",
    "EXIT_OK",
    "EXIT_USAGE",
    "FetchError",
    "FetchReport",
    "OfflineError",
    "SelectionError",
    "TEMPLATEFLOW_S3_ROOT",
    "build_parser",
    "cifti_problem",
    "bundled_skeleton_zip",
    "copy_file",
    "default_templateflow_home",
    "download_file",
    "fetch_atlases",
    "file_problem",
    "gifti_problem",
    "image_state",
    "image_url",
    "is_complete",
    "main",
    "nifti_gz_problem",
    "parse_atlas_image",
    "populate_skeleton",
    "select_atlas_images",
    "selection_metadata_paths",
    "skeleton_paths",
]
