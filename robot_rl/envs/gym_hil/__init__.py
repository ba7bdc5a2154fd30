"""gym-hil (LeRobot's HIL-SERL simulator, https://github.com/huggingface/gym-hil): its Franka Panda
with a Robotiq 2F-85, and PandaPickCube as a task of this stack (docs/ENVS.md)."""
