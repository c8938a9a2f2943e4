"""Process settings from the environment (never from the YAML in the repo).

RADAR_HOME        data directory (default ./.radar); the SQLite file lives there
DATABASE_URL      SQLAlchemy URL; default sqlite:///$RADAR_HOME/radar.db
RADAR_CONFIG_DIR  folder of config/*.yaml (default: the repository's config/)
RADAR_AUTHOR_SALT salt for author-id hashes; required outside local use
RADAR_SECRET_KEY  signs the web desk's CSRF tokens; required outside local use (locally one is
                  made once and kept in $RADAR_HOME/secret_key)
"""
from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_SALT = "local-development-salt"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RADAR_", extra="ignore")

    home: Path = Path(".radar")
    config_dir: Path = REPO_ROOT / "config"
    author_salt: str = LOCAL_SALT
    environment: str = "local"
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    elasticsearch_url: str | None = Field(default=None, validation_alias="ELASTICSEARCH_URL")
    secret_key: str | None = None
    # radar_process encodes each window in this many parallel tasks (spread over Celery workers)
    embed_shards: int = Field(default=1, ge=1, le=64)

    def model_post_init(self, __context: object) -> None:
        if self.environment != "local" and self.author_salt == LOCAL_SALT:
            raise ValueError("RADAR_AUTHOR_SALT must be set outside local use")
        if self.environment != "local" and not self.secret_key:
            raise ValueError("RADAR_SECRET_KEY must be set outside local use")

    def web_secret(self) -> str:
        """RADAR_SECRET_KEY, or locally a key made once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'radar.db').resolve()}"
