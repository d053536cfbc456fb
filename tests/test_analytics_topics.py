"""Popular topics on a generated corpus in English and Russian: grouped by shared keywords,
counted, compared with the period before, named by keywords or by the bot's model."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from analytics.models import Topic
from analytics.services.rollups import day_bounds
from analytics.services.topics import topics_find
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.fakes.openai_server import Behaviour

pytestmark = pytest.mark.django_db
END = date(2026, 4, 20)

SUBJECTS = {
    "weather": ("en", [
        "What will the weather be like in {city} tomorrow?",
        "Is the weather in {city} good for a picnic this weekend?",
        "Weather forecast for {city}: do I need an umbrella?",
    ]),
    "recipe": ("en", [
        "Give me a recipe for {dish} without eggs",
        "My {dish} recipe came out dry, what went wrong?",
        "A quick recipe for {dish} for four people",
    ]),
    "погода": ("ru", [
        "Какая погода будет завтра в городе {city}?",
        "Подскажи погоду на выходные, {city}, нужен ли зонт?",
        "Почему погода в городе {city} так быстро меняется?",
    ]),
    "рецепт": ("ru", [
        "Нужен рецепт блюда {dish} без яиц",
        "Рецепт {dish}: сколько варить?",
        "Простой рецепт {dish} на ужин",
    ]),
}
CITIES = ["London", "Paris", "Berlin", "Madrid", "Oslo", "Rome", "Vienna", "Prague"]
DISHES = ["pancakes", "borscht", "lasagna", "risotto", "curry", "goulash", "paella", "ramen"]


def converse(owner, language: str, text: str, day: date, rng: random.Random) -> None:
    conversation = ConversationFactory(owner=owner, language=language, title=text[:40])
    asked = MessageFactory(conversation=conversation, role=Message.Role.USER, content=text,
                           language=language)
    answer = MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT,
                            content="Here is what I found. " * 3, reply_to=asked)
    when = day_bounds(day)[0] + timedelta(hours=rng.randint(0, 23))
    Message.objects.filter(pk__in=[asked.pk, answer.pk]).update(created_at=when)


def corpus(counts: dict[str, int], *, first_day: date, people: list, seed: int) -> None:
    rng = random.Random(seed)
    for subject, n in counts.items():
        language, templates = SUBJECTS[subject]
        for i in range(n):
            text = rng.choice(templates).format(city=rng.choice(CITIES), dish=rng.choice(DISHES))
            converse(people[i % len(people)], language, text,
                     first_day + timedelta(days=rng.randint(0, 6)), rng)


@pytest.fixture
def people(db):
    return [UserFactory() for _ in range(5)]


def test_topics_are_found_in_both_languages_with_counts_and_trend(people, demo_bot):
    this_week = {"weather": 9, "recipe": 6, "погода": 8, "рецепт": 5}
    corpus(this_week, first_day=END - timedelta(days=6), people=people, seed=1)
    corpus({"weather": 4, "погода": 8}, first_day=END - timedelta(days=13), people=people,
           seed=2)
    # Outside both periods: not counted anywhere.
    corpus({"recipe": 7}, first_day=END + timedelta(days=1), people=people, seed=3)

    topics = topics_find(end=END, days=7)

    found = {t.keywords.split(", ")[0]: t for t in topics}
    assert set(found) >= {"weather", "recipe", "погода", "рецепт"}, found
    assert found["weather"].conversations == 9 and found["weather"].previous == 4
    assert found["recipe"].conversations == 6 and found["recipe"].previous is None
    assert found["погода"].conversations == 8 and found["погода"].trend == 0
    assert found["рецепт"].conversations == 5
    assert (found["weather"].language, found["погода"].language) == ("en", "ru")
    # Without a real provider the keywords name them.
    assert {t.named_by for t in topics} == {"keywords"}
    assert found["weather"].label.startswith("weather")
    assert all(t.period_start == END - timedelta(days=6) and t.period_end == END for t in topics)
    assert len(found["weather"].examples) == 5
    # Running it again replaces the period's topics.
    topics_find(end=END, days=7)
    assert Topic.objects.filter(period_end=END).count() == len(topics)


def test_a_keyword_of_one_person_alone_makes_no_topic(people, demo_bot):
    rng = random.Random(5)
    for i in range(6):
        converse(people[0], "en", f"My aquarium filter number {i} is noisy again", END, rng)
    converse(people[1], "en", "What should I cook tonight?", END, rng)
    assert topics_find(end=END, days=7) == []


def test_the_bots_model_names_the_topics(people, openai_bot, fake_openai):
    corpus({"weather": 5, "погода": 4}, first_day=END - timedelta(days=6), people=people, seed=9)
    fake_openai.script(Behaviour(text="1. Weather plans\n2. Погода на неделю\n"))
    topics = {t.keywords.split(", ")[0]: t for t in topics_find(end=END, days=7)}
    assert topics["weather"].label == "Weather plans"
    assert topics["погода"].label == "Погода на неделю"
    assert topics["weather"].named_by == "GPT (gpt-4o-mini)"
    request = fake_openai.requests[-1]["body"]
    assert request["model"] == "gpt-4o-mini"
    assert "weather" in request["messages"][1]["content"]


def test_a_failing_model_leaves_the_keyword_names(people, openai_bot, fake_openai):
    corpus({"weather": 4}, first_day=END - timedelta(days=6), people=people, seed=4)
    fake_openai.script(Behaviour(status=500), Behaviour(status=500))
    (topic,) = topics_find(end=END, days=7)
    assert topic.named_by == "keywords" and topic.label.startswith("weather")
