"""The web page in a real headless Chromium (Debian's, driven by Playwright): upload a file and run asr,
type text and run tts, record from the (fake) microphone, and see each output; an audio output plays."""
import shutil

import pytest

from tests.serving.conftest import running

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root, without a sandbox; no background traffic (this machine's network is closed); a fake microphone.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture(scope="module")
def page(server_url):
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail("the page test needs Debian's chromium (scripts/install-system-deps.sh installs it: make install)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server_url)
        page.wait_for_selector("#task option[value=tts]", state="attached")
        yield page
        browser.close()
        assert not errors, errors


def run_and_wait(page) -> str:
    """Click Run; the status line once the answer is shown."""
    page.evaluate("document.getElementById('status').textContent = ''")
    page.click("#run")
    page.wait_for_function("(s => s && !s.startsWith('Running'))(document.getElementById('status').textContent) "
                           "&& !document.getElementById('run').disabled", timeout=60_000)
    return page.text_content("#status")


def test_upload_a_file_and_transcribe_it(page, model, served):
    page.select_option("#task", "asr")
    assert page.is_visible("#audio-file") and not page.is_visible("#text") and not page.is_visible("#prompt-file")
    page.set_input_files("#audio-file", str(served.wavs[1]))
    assert run_and_wait(page).startswith("Done")
    expected = model.transcribe(served.wavs[1]).text
    assert page.text_content("#output-text") == (expected or "(an empty output)")
    assert not page.is_visible("#output-audio")


def test_type_text_and_hear_it_spoken(page, model):
    page.select_option("#task", "tts")
    assert page.is_visible("#text") and page.is_visible("#prompt-file") and not page.is_visible("#audio-file")
    page.fill("#text", "good morning to you")
    assert run_and_wait(page).startswith("Done")
    spoken = model.synthesize("good morning to you")
    assert spoken.duration > 0, "the tiny model said nothing: nothing to play"
    page.wait_for_function("document.getElementById('output-audio').readyState >= 1")
    assert page.is_visible("#output-audio")
    assert page.evaluate("document.getElementById('output-audio').duration") == pytest.approx(spoken.duration, abs=0.01)
    played = page.evaluate("""async () => {
        const audio = document.getElementById('output-audio');
        await audio.play();
        await new Promise((done) => setTimeout(done, 250));
        return audio.currentTime; }""")
    assert played > 0
    assert page.get_attribute("#output-download", "href").startswith("blob:")


def test_record_from_the_microphone(page):
    page.select_option("#task", "ser")
    page.click("#record")
    page.wait_for_timeout(800)
    page.click("#record")
    assert page.text_content("#record-state").startswith("recorded")
    assert page.is_visible("#input-audio")  # the recording, to listen to before sending it
    header = page.evaluate("async () => [...new Uint8Array(await recorded.audio.slice(0, 16).arrayBuffer())]")
    assert bytes(header[:4]) == b"RIFF" and bytes(header[8:16]) == b"WAVEfmt "  # what is sent: a WAV file
    assert run_and_wait(page).startswith("Done")  # which the server read as audio
    assert page.text_content("#output-text")  # a label, or "(an empty output)"


def test_a_bad_input_shows_the_servers_reason(page):
    page.select_option("#task", "mt")
    page.fill("#text", "x" * 5000)
    status = run_and_wait(page)
    assert "at most 1000 (max_text)" in status and page.get_attribute("#status", "class") == "error"


def test_speak_in_the_voice_of_an_uploaded_prompt(page, served, model):
    page.select_option("#task", "tts")
    page.fill("#text", "good night")
    page.set_input_files("#prompt-file", str(served.wavs[3]))
    page.fill("#prompt-text", served.texts[3])
    assert run_and_wait(page).startswith("Done")
    expected = model.synthesize("good night", prompt=(served.wavs[3], served.texts[3]))
    shown = page.text_content("#output-text") if expected.duration == 0 else None
    if expected.duration:
        page.wait_for_function("document.getElementById('output-audio').readyState >= 1")
        assert page.evaluate("document.getElementById('output-audio').duration") == pytest.approx(expected.duration, abs=0.01)
    else:
        assert "empty output" in shown
