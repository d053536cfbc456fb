from django.contrib.staticfiles import finders
from django.templatetags.static import static


def test_it_answers_favicon_ico_with_the_site_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == static("site/favicon.svg")
    assert finders.find("site/favicon.svg")


def test_every_page_names_its_icon(client, db):
    page = client.get("/accounts/login/").content.decode()
    assert f'<link rel="icon" href="{static("site/favicon.svg")}" type="image/svg+xml">' in page
