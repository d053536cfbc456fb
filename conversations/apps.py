from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def warm_up(self) -> None:
        """Called by a web process before it serves (chatlab_site.gc_freeze): what the first
        reply would otherwise load while 50 people wait for their first tokens (a traced
        burst: the language model ~35 ms, the SSL context ~50 ms, the HTTP client's modules
        ~80 ms), and what loads here is frozen with the rest of start-up."""
        from .providers.openai_compat import warm_up as warm_up_provider
        from .services.language import detect_language

        detect_language("Loading the language detector")
        warm_up_provider()
