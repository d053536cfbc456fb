"""Chatlab settings, composed from one module per concern.

With no environment variables the site runs embedded: SQLite, an in-memory channel layer, Celery
tasks in-process, media on local disk and email to the console. Each production service switches
on by its own variable (DATABASE_URL, REDIS_URL, ...); the README lists them all.
"""

from .base import *  # noqa: F401,F403
from .languages import *  # noqa: F401,F403
from .services import *  # noqa: F401,F403
from .security import *  # noqa: F401,F403
from .accounts import *  # noqa: F401,F403
from .chat import *  # noqa: F401,F403
from .api import *  # noqa: F401,F403
from .storage import *  # noqa: F401,F403
from .backups import *  # noqa: F401,F403  (after storage: it adds the backup storage)
from .content_security_policy import *  # noqa: F401,F403  (after storage: media hosts)
from .integrations import *  # noqa: F401,F403
from .analytics import *  # noqa: F401,F403  (last: it wraps MIDDLEWARE and LOGGING)
