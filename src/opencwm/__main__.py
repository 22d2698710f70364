from opencwm.cli import app

app(prog_name="opencwm")
