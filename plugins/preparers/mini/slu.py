"""SLU: spoken commands to a home assistant in the SLURP style: a scenario_action intent and typed
slots whose fillers are words of the utterance, spoken by the synthetic voices. The schema, the
templates and the filler words are written here."""
from __future__ import annotations

import re

from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini.context import Context
from laura_plugins.preparers.mini.cuts import Utterance
from laura_plugins.preparers.mini.speech import VOICES, varied
from laura_plugins.preparers.mini.splits import text_key
from laura_plugins.preparers.mini.utterances import spoken_utterance

FILLERS = {
    "time": ("seven am", "six thirty", "noon", "half past eight", "ten pm", "midnight", "nine fifteen",
             "five in the morning"),
    "date": ("today", "tomorrow", "tonight", "this weekend", "next week", "next monday", "this friday",
             "tomorrow morning"),
    "place_name": ("london", "paris", "madrid", "tokyo", "berlin", "chicago", "lisbon", "prague", "amsterdam", "dublin",
                   "vienna", "seattle", "cairo", "sydney", "toronto", "oslo"),
    "weather_descriptor": ("sunny", "rainy", "windy", "cold", "warm", "foggy", "cloudy", "stormy", "snowy"),
    "song_name": ("blue river", "midnight train", "summer rain", "golden hour", "paper boats", "city lights",
                  "slow morning", "northern star"),
    "artist_name": ("the night owls", "maria lopez", "the blue lanterns", "sam carter", "river and stone",
                    "the copper hills", "anna berg"),
    "music_genre": ("jazz", "rock", "classical music", "hip hop", "country", "reggae", "blues", "folk"),
    "radio_name": ("radio one", "jazz radio", "the news channel", "classic rock radio", "the morning show",
                   "talk radio", "country radio", "the sports station", "pop radio", "folk radio"),
    "house_place": ("kitchen", "bedroom", "living room", "bathroom", "hallway", "garage", "office", "dining room"),
    "color_type": ("red", "blue", "green", "warm white", "purple", "orange", "yellow", "pink"),
    "event_name": ("dentist appointment", "team meeting", "yoga class", "dinner with friends", "doctor appointment",
                   "piano lesson", "book club", "job interview"),
    "person": ("anna", "david", "john", "sarah", "peter", "maria", "tom", "emma", "lucas", "olivia", "my mother",
               "my boss"),
    "transport_type": ("train", "bus", "plane", "ferry"),
    "food_type": ("pizza", "sushi", "noodles", "a burger", "curry", "tacos", "a salad", "fried rice", "pancakes",
                  "lasagna", "soup", "an omelette"),
    "business_name": ("pizza palace", "golden dragon", "the corner cafe", "sushi house", "burger barn", "green leaf"),
    "list_name": ("shopping", "groceries", "to do", "packing", "holiday", "birthday", "work", "reading"),
    "news_topic": ("sports", "politics", "technology", "science", "business", "local"),
}

TEMPLATES = {
    "alarm_set": ("wake me up at {time} {date}", "set an alarm for {time}", "i need an alarm at {time} {date}"),
    "alarm_remove": ("cancel my alarm for {time}", "remove the {time} alarm", "delete the alarm for {date}",
                     "turn off my {time} alarm {date}"),
    "alarm_query": ("what alarms do i have {date}", "is there an alarm set for {time}",
                    "did i set an alarm for {time} {date}"),
    "weather_query": ("what is the weather like in {place_name} {date}", "will it be {weather_descriptor} {date}",
                      "is it going to be {weather_descriptor} in {place_name}", "do i need an umbrella {date}"),
    "play_music": ("play {song_name} by {artist_name}", "play some {music_genre}", "put on {artist_name}",
                   "i want to hear {song_name}"),
    "play_radio": ("play {radio_name}", "tune in to {radio_name}", "switch the radio to {radio_name}",
                   "put {radio_name} on at {time}"),
    "audio_volume_up": ("turn the volume up", "make it louder", "increase the volume"),
    "audio_volume_mute": ("mute the speakers", "turn the sound off", "silence please"),
    "iot_hue_lightoff": ("turn off the lights in the {house_place}", "switch the {house_place} lights off",
                         "lights off in the {house_place}", "turn the {house_place} lights off at {time}"),
    "iot_hue_lightchange": ("change the lights to {color_type}", "make the {house_place} lights {color_type}",
                            "set the lights in the {house_place} to {color_type}"),
    "iot_cleaning": ("start the vacuum cleaner", "vacuum the {house_place}", "clean the {house_place} floor",
                     "vacuum the {house_place} at {time} {date}"),
    "calendar_set": ("remind me about my {event_name} {date}", "add a {event_name} to my calendar {date} at {time}",
                     "schedule a {event_name} with {person} {date}"),
    "calendar_query": ("what is on my calendar {date}", "do i have a {event_name} {date}",
                       "when is my meeting with {person}"),
    "datetime_query": ("what time is it in {place_name}", "what is the date {date}", "what time is it",
                       "what day of the week is it {date}", "is it {time} in {place_name} yet"),
    "transport_ticket": ("book a {transport_type} ticket to {place_name} {date}",
                         "i need a {transport_type} ticket to {place_name}"),
    "transport_taxi": ("get me a taxi to {place_name}", "book a taxi for {time}",
                       "call a cab to {place_name} at {time}"),
    "takeaway_order": ("order {food_type} from {business_name}", "i want to order {food_type} {date}"),
    "email_sendemail": ("send an email to {person} about the {event_name}", "email {person} that i will be late",
                        "write an email to {person}"),
    "lists_createoradd": ("add {food_type} to my {list_name} list", "create a new {list_name} list",
                          "put bread on the {list_name} list"),
    "lists_query": ("what is on my {list_name} list", "read me my {list_name} list", "how long is my {list_name} list"),
    "news_query": ("what is the latest {news_topic} news", "tell me the {news_topic} headlines {date}",
                   "any news from {place_name}", "what happened in {place_name} {date}"),
    "general_joke": ("tell me a joke", "make me laugh", "do you know any good jokes"),
    "cooking_recipe": ("how do i make {food_type}", "give me a recipe for {food_type}",
                       "how long does {food_type} take to cook"),
}
FILLINGS_PER_TEMPLATE = 100  # draws; repeats are dropped


def build(ctx: Context) -> dict[str, list[Utterance]]:
    chosen = ctx.pick(commands(ctx), lambda c: c[1], ctx.counts())
    out = {}
    for split in SPLITS:
        out[split] = []
        for i, (intent, text, slots) in enumerate(chosen[split]):
            voice = VOICES[ctx.rng.integers(len(VOICES))]
            out[split].append(spoken_utterance("slu", f"{split}-{i:05d}", text, voice, varied(voice, ctx.rng),
                                               intent=intent, slots=slots))
    return out


def commands(ctx: Context) -> list[tuple[str, str, list[dict[str, str]]]]:
    """Distinct (intent, text, slots) drawn from every template, in a fixed order."""
    seen, out = set(), []
    for intent, templates in TEMPLATES.items():
        for template in templates:
            types = re.findall(r"{(\w+)}", template)
            for _ in range(FILLINGS_PER_TEMPLATE if types else 1):
                fillers = {t: FILLERS[t][ctx.rng.integers(len(FILLERS[t]))] for t in types}
                text = template.format(**fillers)
                if text_key(text) not in seen:
                    seen.add(text_key(text))
                    out.append((intent, text, [{"type": t, "filler": fillers[t]} for t in types]))
    return out
