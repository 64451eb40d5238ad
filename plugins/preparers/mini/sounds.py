"""Labelled sounds for captioning (aac) and noise (se): which files of which package, their licence as
the package's copyright file states it, and words to describe them.

``clauses`` describe the sound as a sentence ("a door opens"), ``phrases`` name it ("a door
opening"); captions are built from both. Backgrounds are steady ambiences that can run under other
sounds (and serve as recorded noise for se); ``repeat`` makes one event of several hits (footsteps).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from laura_plugins.preparers.mini.sources import sound_files

MT, FD, SP = "minetest-data", "sound-theme-freedesktop", "sonic-pi-samples"
MT_LICENCE = "CC-BY-SA-3.0 (celeron55 and Minetest contributors)"
# bd_mehackit.flac is left out: the only kick drum that is not CC0
KICKS = tuple(f"bd_{n}.flac" for n in ("808", "ada", "boom", "fat", "gas", "haus", "klub", "pure", "sone", "tek",
                                        "zome", "zum"))
DOORS_LICENCE = "CC-BY-3.0 (CGEffex et al.); glass doors CC0-1.0; steel bar door CC-BY-SA-3.0"


@dataclass(frozen=True)
class Sound:
    label: str
    package: str
    patterns: tuple[str, ...]
    licence: str
    clauses: tuple[str, ...]
    phrases: tuple[str, ...]
    background: bool = False
    repeat: tuple[int, int] = (1, 1)  # hits per event, inclusive

    @functools.cached_property
    def files(self) -> list[str]:
        return sorted({f for pattern in self.patterns for f in sound_files(self.package, pattern)})


def _steps(surface: str, name: str, clauses: tuple[str, ...], phrases: tuple[str, ...], repeat=(3, 6)) -> Sound:
    return Sound(f"footsteps_{surface}", MT, (f"default_{name}_footstep*.ogg",), MT_LICENCE, clauses, phrases,
                 repeat=repeat)


SOUNDS: tuple[Sound, ...] = (
    # steady ambiences
    Sound("water", MT, ("env_sounds_water.*.ogg",), MT_LICENCE,
          ("water flows steadily", "a stream of water runs", "water trickles and gurgles"),
          ("flowing water", "a running stream", "gurgling water"), background=True),
    Sound("lava", MT, ("env_sounds_lava.*.ogg",), MT_LICENCE,
          ("lava bubbles", "molten lava gurgles and pops"),
          ("bubbling lava", "gurgling lava"), background=True),
    Sound("fire", MT, ("fire_fire.*.ogg", "fire_large.ogg", "fire_small.ogg"), MT_LICENCE,
          ("a fire crackles", "flames crackle and pop", "a fire burns steadily"),
          ("a crackling fire", "burning flames", "crackling flames"), background=True),
    Sound("furnace", MT, ("default_furnace_active.ogg",), MT_LICENCE,
          ("a furnace roars", "a furnace burns with a low roar"),
          ("a roaring furnace", "a burning furnace"), background=True),
    Sound("hum", SP, ("ambi_drone.flac", "ambi_haunted_hum.flac", "ambi_soft_buzz.flac", "ambi_glass_hum.flac"),
          "CC0-1.0",
          ("a low drone hums", "a steady hum drones on", "a deep tone hums"),
          ("a low drone", "a steady hum", "a humming drone"), background=True),
    Sound("vinyl_hiss", SP, ("vinyl_hiss.flac",), "CC0-1.0",
          ("a record crackles and hisses", "vinyl hisses softly"),
          ("vinyl crackle", "the hiss of a record"), background=True),
    # events
    Sound("door_open", MT, ("doors_*_open.ogg", "xpanes_steel_bar_door_open.ogg"), DOORS_LICENCE,
          ("a door opens", "someone opens a door", "a door swings open"),
          ("a door opening", "a door being opened")),
    Sound("door_close", MT, ("doors_*_close.ogg", "xpanes_steel_bar_door_close.ogg"), DOORS_LICENCE,
          ("a door closes", "someone shuts a door", "a door swings shut"),
          ("a door closing", "a door being shut")),
    Sound("glass", MT, ("default_break_glass.*.ogg",), MT_LICENCE,
          ("glass shatters", "a pane of glass breaks", "glass breaks into pieces"),
          ("shattering glass", "glass breaking")),
    _steps("gravel", "gravel", ("footsteps crunch on gravel", "someone walks over gravel"),
           ("footsteps on gravel", "crunching footsteps on gravel")),
    _steps("snow", "snow", ("someone walks through snow", "footsteps crunch in the snow"),
           ("footsteps in snow", "steps crunching through snow")),
    _steps("grass", "grass", ("someone walks across grass", "footsteps rustle through grass"),
           ("footsteps on grass", "steps through grass")),
    _steps("sand", "sand", ("someone walks on sand", "footsteps shuffle over sand"),
           ("footsteps on sand", "steps in sand")),
    _steps("stone", "hard", ("footsteps tap on a hard floor", "someone walks on stone"),
           ("footsteps on a hard floor", "steps on stone")),
    _steps("metal", "metal", ("footsteps clang on metal", "someone walks on a metal floor"),
           ("footsteps on metal", "clanging steps on metal")),
    _steps("ice", "ice", ("someone walks on ice", "footsteps click on ice"),
           ("footsteps on ice", "steps on ice")),
    _steps("water", "water", ("someone wades through water", "footsteps splash in water"),
           ("splashing footsteps", "someone wading through water"), repeat=(1, 2)),
    Sound("chopping", MT, ("default_dig_choppy.*.ogg",), MT_LICENCE,
          ("someone chops wood", "an axe chops at wood"),
          ("wood being chopped", "an axe chopping wood"), repeat=(2, 4)),
    Sound("pickaxe", MT, ("default_dig_cracky.*.ogg",), MT_LICENCE,
          ("a pick strikes stone", "someone chips at rock"),
          ("a pick striking stone", "rock being chipped"), repeat=(2, 4)),
    Sound("digging", MT, ("default_dig_crumbly.ogg", "default_gravel_dig.*.ogg"), MT_LICENCE,
          ("someone digs in the dirt", "a shovel digs into earth"),
          ("digging", "a shovel digging"), repeat=(2, 4)),
    Sound("thud", MT, ("default_place_node.*.ogg",), MT_LICENCE,
          ("something is set down with a thud", "a heavy block thuds down"),
          ("a dull thud", "something heavy being set down")),
    Sound("snap", MT, ("default_tool_breaks.*.ogg",), MT_LICENCE,
          ("a tool snaps", "something snaps and breaks"),
          ("a snapping sound", "a tool breaking")),
    Sound("extinguish", MT, ("fire_extinguish_flame.*.ogg",), MT_LICENCE,  # default_cool_lava.* are the same files
          ("a flame is put out with a hiss", "something hot hisses and sizzles"),
          ("a flame being put out", "a sizzling hiss")),
    Sound("cart", MT, ("carts_cart_moving.*.ogg",), MT_LICENCE,
          ("a cart rolls along rails", "a cart rattles down a track"),
          ("a cart rolling on rails", "a rattling cart")),
    Sound("explosion", MT, ("tnt_explode.ogg",), "CC0-1.0",
          ("something explodes", "an explosion booms"),
          ("a loud explosion", "an explosion")),
    Sound("fuse", MT, ("tnt_ignite.ogg", "tnt_gunpowder_burning.ogg"), "CC0-1.0",
          ("a fuse fizzes and burns", "gunpowder hisses as it burns"),
          ("a fizzing fuse", "burning gunpowder")),
    Sound("bell", FD, ("bell.oga",), "CC-BY-3.0 (Dr. Richard Boulanger et al.)",
          ("a bell rings", "a bell chimes once"),
          ("a ringing bell", "a bell")),
    Sound("alarm_clock", FD, ("alarm-clock-elapsed.oga",), "CC-BY-SA-3.0 (Tim/corsica_s)",
          ("an alarm clock rings", "an alarm goes off"),
          ("a ringing alarm clock", "an alarm")),
    Sound("phone", FD, ("phone-incoming-call.oga",), "GPL-2+ (Damien Sandras)",
          ("a phone rings", "a telephone rings"),
          ("a ringing phone", "a telephone ringing")),
    Sound("camera", FD, ("camera-shutter.oga",), "CC-BY-SA-3.0 (freesound user horsthorstensen)",
          ("a camera shutter clicks", "a camera takes a picture"),
          ("a camera shutter", "the click of a camera")),
    Sound("chime", FD, ("complete.oga", "message.oga", "dialog-information.oga", "device-added.oga",
                        "device-removed.oga"),
          "CC-BY-3.0 (complete: Dr. Richard Boulanger et al.); CC-BY-SA-3.0 (the others: Ivica Bukvic)",
          ("a short chime sounds", "a notification chime plays", "an electronic chime rings out"),
          ("a short chime", "a notification sound", "an electronic chime")),
    Sound("snare", SP, ("drum_snare_*.flac", "sn_dolf.flac", "sn_dub.flac", "sn_zome.flac", "elec_snare.flac"),
          "CC0-1.0",
          ("a snare drum is hit", "someone strikes a snare drum"),
          ("a snare drum hit", "snare drum hits"), repeat=(1, 3)),
    Sound("kick_drum", SP, (*KICKS, "drum_heavy_kick.flac", "drum_bass_*.flac"), "CC0-1.0",
          ("a bass drum thumps", "a kick drum booms"),
          ("a thumping bass drum", "kick drum beats"), repeat=(2, 4)),
    Sound("cymbal", SP, ("drum_cymbal_*.flac", "drum_splash_*.flac", "elec_cymbal.flac"), "CC0-1.0",
          ("a cymbal crashes", "a cymbal rings out"),
          ("a crashing cymbal", "a cymbal")),
    Sound("tom_drum", SP, ("drum_tom_*.flac",), "CC0-1.0",
          ("a tom drum is struck", "someone hits a tom drum"),
          ("tom drum hits", "a tom drum"), repeat=(1, 3)),
    Sound("drum_loop", SP, ("loop_amen.flac", "loop_amen_full.flac", "loop_breakbeat.flac", "loop_compus.flac",
                            "loop_mika.flac", "loop_garzul.flac", "loop_industrial.flac"), "CC0-1.0",
          ("a drum beat plays", "drums play a fast breakbeat"),
          ("a drum beat", "a looping breakbeat")),
    Sound("tabla", SP, ("tabla_*.flac",), "CC0-1.0",
          ("someone plays the tabla", "tabla drums are played"),
          ("tabla drumming", "tabla strokes"), repeat=(3, 6)),
    Sound("guitar", SP, ("guit_*.flac",), "CC0-1.0",
          ("an electric guitar rings out", "someone plays an electric guitar"),
          ("an electric guitar", "guitar notes")),
    Sound("scratch", SP, ("vinyl_scratch.flac", "vinyl_backspin.flac", "vinyl_rewind.flac"), "CC0-1.0",
          ("a record is scratched", "a DJ scratches a record"),
          ("a record scratch", "a scratching record")),
    Sound("blips", SP, ("elec_beep.flac", "elec_blip.flac", "elec_blip2.flac", "elec_blup.flac", "elec_ping.flac",
                        "elec_plip.flac", "elec_twip.flac", "elec_pop.flac", "elec_tick.flac"), "CC0-1.0",
          ("an electronic blip sounds", "a synthesizer beeps"),
          ("electronic beeps", "a synthetic blip"), repeat=(1, 3)),
    Sound("whoosh", SP, ("ambi_swoosh.flac", "ambi_dark_woosh.flac", "perc_swash.flac"), "CC0-1.0",
          ("something whooshes past", "a whoosh sweeps by"),
          ("a whooshing sound", "a swoosh")),
    Sound("crow", SP, ("misc_crow.flac",), "CC0-1.0",
          ("a crow caws", "a crow calls out"),
          ("a cawing crow", "a crow")),
    Sound("piano", SP, ("ambi_piano.flac",), "CC0-1.0",
          ("a piano plays softly", "soft piano notes ring out"),
          ("soft piano notes", "a piano")),
)
